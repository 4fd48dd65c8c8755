using System.Runtime.CompilerServices;

// The tests check the generated character table against the reference's digest code point by code point.
[assembly: InternalsVisibleTo("StreamBert.Engine.Tests")]
