"""The app's widgets: the settings form, charts, panels, the drawing canvas."""
