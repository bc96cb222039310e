"""rtmotion: real-time video motion transfer (Everybody Dance Now, made usable).

The package is built in layers (errors -> io/models -> pose -> kernels -> synthetic -> subject
-> runtime -> export -> pipeline -> train/eval -> commands -> cli); `rtmotion/README.md` says
what each room holds and `tests/test_layers.py` keeps the order.
"""

__version__ = "0.1.0"
