"""rtmotion.pipeline"""
