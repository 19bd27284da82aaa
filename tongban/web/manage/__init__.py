"""The manage screens: routes and templates."""
