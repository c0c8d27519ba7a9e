"""The alerting pages: rules, channels, routes, silences, and each alert's own page."""
