using Microsoft.Extensions.Logging;
using StreamBert.Trainer;

namespace StreamBert.Cli.Demo;

/// <summary>
/// Logging of the in-process hosts routed into the demo's state instead of the console, which the live
/// dashboard owns: warnings and errors become event lines; the trainer's progress lines (Information)
/// become the "training" panel's current step.
/// </summary>
internal sealed class DemoLog(DemoState state) : ILoggerProvider
{
    private static readonly string TrainerCategory = typeof(TrainerService).FullName!;

    public ILogger CreateLogger(string categoryName) => new Logger(state, categoryName, categoryName == TrainerCategory);

    public void Dispose()
    {
    }

    private sealed class Logger(DemoState state, string category, bool isTrainer) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState scopeState)
            where TState : notnull => null;

        // The trainer's refusals are warnings too, and the demo reports every run itself: only its errors are events.
        public bool IsEnabled(LogLevel logLevel) => isTrainer ? logLevel is LogLevel.Information or >= LogLevel.Error : logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState scopeState, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var message = formatter(scopeState, exception);
            if (isTrainer && logLevel == LogLevel.Information)
            {
                state.TrainerProgress(message);
                return;
            }

            var source = category[(category.LastIndexOf('.') + 1)..];
            state.Event($"{logLevel.ToString().ToLowerInvariant()} {source}: {message}{(exception is null ? "" : " — " + exception.Message)}");
        }
    }
}
