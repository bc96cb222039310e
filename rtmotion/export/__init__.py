"""rtmotion.export"""
