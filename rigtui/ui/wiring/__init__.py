"""The app's routing, one feature per module: mixins of :class:`rigtui.ui.app.RigApp`.

Each holds the workers and handlers of one feature (saved chats, process control, what is
remembered, model control, ``--metrics``, the Fleet tab); the app owns the lifetimes and binds
the keys. They import what the app may import, never the app itself.
"""
