"""Using a trained model: artifacts (save/load), recommendations for new histories, the HTTP server."""
