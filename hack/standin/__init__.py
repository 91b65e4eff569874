"""A local Kubernetes API stand-in for tests and demos: kmock's emulator plus what kubectl and kopf need."""
