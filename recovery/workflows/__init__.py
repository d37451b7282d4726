"""The recovery workflows, one module per notification type (host_failure,
instance_failure, process_failure); common holds what they share and
concurrency the host failure workflow's thread pool, listing cache and locks."""
