"""The built-in frontends: they draw events from :mod:`zchat.events` and read keys, nothing more.

Each one talks only to :class:`zchat.client.Client`; none touches a socket or the protocol.
The plugin host finds them through the ``zchat_register_frontends`` hook.
"""
