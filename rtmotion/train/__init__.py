"""rtmotion.train"""
