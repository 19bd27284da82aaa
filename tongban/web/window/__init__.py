"""The window screens: routes and templates."""
