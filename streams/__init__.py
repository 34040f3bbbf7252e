"""The Faust app, its topics and agents: wiring of matchers and connectors only."""
