"""The cases screens: routes and templates."""
