"""The app's actions, as mixins of the App: attach, settings files, runs, where events land."""
