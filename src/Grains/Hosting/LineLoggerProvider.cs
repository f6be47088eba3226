using Microsoft.Extensions.Logging;

namespace SaeCluster.Grains;

/// <summary>Hands every log line of a host to a callback (the embedded silo's log file, a test's list), one line per message.</summary>
public sealed class LineLoggerProvider(Action<string> write, LogLevel minimum = LogLevel.Information) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, write, minimum);

    public void Dispose() { }

    sealed class Logger(string category, Action<string> write, LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            string level = logLevel switch { LogLevel.Warning => "warn", LogLevel.Error => "error", LogLevel.Critical => "crit", LogLevel.Debug => "debug", LogLevel.Trace => "trace", _ => "info" };
            string text = formatter(state, exception);
            if (exception != null) text += $" ({exception.GetType().Name}: {exception.Message})";
            write($"{level} {category}: {text}");
        }
    }
}
