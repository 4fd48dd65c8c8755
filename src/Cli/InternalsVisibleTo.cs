using System.Runtime.CompilerServices;

// The end-to-end tests run the CLI's commands in process (models promote/rollback ordering).
[assembly: InternalsVisibleTo("StreamBert.EndToEnd.Tests")]
