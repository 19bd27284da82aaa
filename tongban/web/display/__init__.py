"""The display screens: routes and templates."""
