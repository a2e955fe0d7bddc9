"""Views of a chaos run's data: console (rich), JSON, JUnit XML, and a self-contained HTML page."""
