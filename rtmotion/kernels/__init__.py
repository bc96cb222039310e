"""rtmotion.kernels"""
