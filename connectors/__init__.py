"""Thin adapters to Kafka, Elasticsearch, files and the local stack."""
