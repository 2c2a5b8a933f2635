"""The tray client's Qt layer: windows, dialogs, models and delegates, the tray, and the
bridge that runs service calls off the GUI thread. Widgets reach the services only through
`ChatSession` and the bridge."""
