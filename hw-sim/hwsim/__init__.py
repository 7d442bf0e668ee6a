"""hwsim: a register-level simulator of the wearable's hardware.

Every part speaks the same interface as the real thing, so the code in
``device`` runs unchanged against it:

- :mod:`hwsim.clock`: virtual time (``monotonic()``, ``sleep()``);
- :mod:`hwsim.i2c`: an ``smbus2.SMBus``-like bus with chips at addresses and fault injection;
- :mod:`hwsim.ads1114`: the ADS1114 16-bit ADC, register by register;
- :mod:`hwsim.ssd1306`: the SSD1306 OLED controller, decoding the driver's byte stream;
- :mod:`hwsim.gpio`: ``periphery.GPIO``-like lines that remember every change;
- :mod:`hwsim.optics`: LEDs, tissue and the OPT101 photodiode;
- :mod:`hwsim.board`: all of the above wired as on the wearable;
- :mod:`hwsim.remote`: a board served over a Unix socket to a device process elsewhere
  (the emulated board, which has no numpy; the client is :mod:`device.simboard`).
"""
