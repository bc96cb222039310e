"""rtmotion.runtime"""
