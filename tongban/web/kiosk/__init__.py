"""The kiosk screens: routes and templates."""
