"""One module per tab of the web app; each exposes ``build(services, ...)``."""
