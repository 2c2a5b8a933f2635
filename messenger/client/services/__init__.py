"""The desktop client's services: settings, session store, API, realtime, outbox.

No widgets and no Qt here: every service is plain, thread-safe Python, driven by the
tray app (through Qt signals) and by the command-line client alike. Callbacks run on
a service thread; the Qt layer re-emits them as queued signals on the GUI thread.
"""
