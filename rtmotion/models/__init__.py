"""rtmotion.models"""
