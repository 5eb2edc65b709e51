-- LiteLLM's own database (its request logs and UI), next to ours ("router").
CREATE DATABASE litellm OWNER router;
