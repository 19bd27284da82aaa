"""The web process: the app factory, sign-in, the live-stream broker, the JSON API and one folder
per role with its routes and templates (docs/architecture.md, "Web")."""
