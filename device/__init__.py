"""The wearable's firmware: drivers, measurement chain and app for the Luckfox Pico Mini.

Imports nothing from ``host`` or ``hwsim``; every hardware touch goes through a
bus, line or clock object passed in, so the same code runs on the board and on
the simulator.
"""
