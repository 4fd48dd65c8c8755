using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// The log lines of an in-process host, kept for the assertion message of a failing test: a pipeline that stops
/// delivering says why in its own log, which the test runner would otherwise never show.
/// </summary>
public sealed class CapturedLog : ILoggerProvider
{
    private const int MaxLines = 2000;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName[(categoryName.LastIndexOf('.') + 1)..]);

    /// <summary>The last lines (at most <paramref name="count"/>), oldest first.</summary>
    public string Tail(int count = 60) => string.Join(Environment.NewLine, _lines.TakeLast(count));

    public void Dispose()
    {
    }

    private void Add(string line)
    {
        _lines.Enqueue($"+{_clock.Elapsed.TotalSeconds:F1}s {line}");
        while (_lines.Count > MaxLines && _lines.TryDequeue(out _))
        {
        }
    }

    private sealed class Logger(CapturedLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var exceptionText = exception is null ? "" : $" [{exception.GetType().Name}: {exception.Message}]";
            log.Add($"{logLevel} {category}: {formatter(state, exception)}{exceptionText}");
        }
    }
}
