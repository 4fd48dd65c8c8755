using System.Runtime.CompilerServices;

// The trainer fills a DenseHead's weights in place and reuses its kernels; tests check both.
[assembly: InternalsVisibleTo("StreamBert.Training")]
[assembly: InternalsVisibleTo("StreamBert.Training.Tests")]
[assembly: InternalsVisibleTo("StreamBert.Engine.Tests")]
