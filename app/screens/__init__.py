"""The app's views (the tabs' contents) and screens: History, Results, Try, dialogs."""
