"""rtmotion.synthetic"""
