"""The info screens: routes and templates."""
