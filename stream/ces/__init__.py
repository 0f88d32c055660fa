"""The pure CES logic, one package per stage: registry, intake, users, goals (no Faust, Kafka or Prometheus)."""
