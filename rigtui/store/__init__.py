"""What rigtui keeps on disk under ``Settings.data_dir``: chats (SQLite), and the small files
beside them. Engines only: no Textual, no sampler; the app runs them off its event loop."""
