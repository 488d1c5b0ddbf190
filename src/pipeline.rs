//! The pipeline: the one place that turns a received message into an action and an SMTP reply.
