// The task the Taskbus HTTP server runs in the HTTP enqueue workload. Only the
// endpoint is measured; the handler exists so the task is defined.
export default {
  handler: async () => null,
};
