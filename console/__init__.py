"""The top layer: pages and API that combine the domain apps, the root URLconf, the API router."""
