"""rtmotion.io"""
