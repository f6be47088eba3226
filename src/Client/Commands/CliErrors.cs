using SaeCluster.Compute;
using SaeCluster.Sae;

namespace SaeCluster.Client.Commands;

/// <summary>Turns the errors a user can cause into one clear line on stderr and a non-zero exit code.</summary>
public static class CliErrors
{
    public const int Usage = 2, Failed = 1, Interrupted = 130;

    /// <summary>
    /// Runs a command body on the thread pool (so Ctrl-C cancellation reaches it while System.CommandLine
    /// waits) and maps user errors to messages and exit codes.
    /// </summary>
    public static async Task<int> Run(Func<int> body)
    {
        try { return await Task.Run(body); }
        catch (ConfigException e) { return Report(e.Message, Usage); }
        catch (ClusterException e) { return Report(e.Message, e.ExitCode); }
        catch (DataException e) { return Report(e.Message, Failed); }
        catch (SafetensorsFormatException e) { return Report(e.Message, Failed); }
        catch (TensorFormatException e) { return Report(e.Message, Failed); }
        catch (TrainingDivergedException e) { return Report(e.Message, Failed); }
        catch (SaeCluster.Models.ModelFormatException e) { return Report(e.Message, Failed); }
        catch (SaeCluster.Models.TokenizerFormatException e) { return Report(e.Message, Failed); }
        catch (InvalidDataException e) { return Report(e.Message, Failed); }
        catch (FileNotFoundException e) { return Report(e.Message, Failed); }
        catch (OperationCanceledException) { return Report("interrupted", Interrupted); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return Report(e.Message, Failed); }
    }

    static int Report(string message, int code)
    {
        Console.Error.WriteLine($"error: {message}");
        return code;
    }
}
