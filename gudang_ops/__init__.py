"""Launching and operating Gudang: the ``gudang`` command, the demo stack, servers, provisioning.

Not part of the shared core: ``gudang/`` (wire contract, settings, MQTT) imports nothing from
here or from the rooms (``services``, ``api``, ``firmware_bridge``); this package imports them.
"""
