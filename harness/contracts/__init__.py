"""Contracts: the schema registry, compatibility checking, and Pact integration."""
