"""Pictures of shards and runs for people: contact sheets and MP4s of samples."""
