"""Watch wearables live: a browser page for one or many, and a team through an MQTT broker.

Modules, one job each:

- :mod:`host.live.wire`: topics, the message payload, the sequence account (loss/duplicates).
- :mod:`host.live.view`: per wearable, the last 60 s of signals and the newest state (Hub).
- :mod:`host.live.server`: the page (FastAPI, WebSocket, uPlot served from ``static/``).
- :mod:`host.live.broker`: the shipped Mosquitto configuration run on loopback (tests, the
  benchmark, a quick try: ``python -m host.live.broker``).
- :mod:`host.live.mqtt_settings`: where the broker is and who we are (command-line options).
- :mod:`host.live.publish`: a wearable's host side publishes its records, buffering offline.
- :mod:`host.live.subscribe`: the team page's subscriber, feeding a Hub.
- :mod:`host.live.feeds`: sinks (the page's hub, several at once), a session record replayed.
- :mod:`host.live.options`: ``--live``, the page's and the broker's options, shared by the
  commands that record (``host collect``, the simulated wearable) and ``host live``.
- :mod:`host.live.cli`: ``python -m host live``.
"""
