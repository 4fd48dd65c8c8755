using System.CommandLine;
using System.Globalization;

namespace StreamBert.Cli.Commands;

/// <summary>Validators for flags whose bad values would otherwise surface as exceptions deep inside a command.</summary>
internal static class CommandChecks
{
    public static void AtLeast(Option<int?> option, int min) => option.Validators.Add(r =>
    {
        if (r.GetValueOrDefault<int?>() is { } v && v < min)
        {
            r.AddError($"{option.Name} {v}: must be at least {min}.");
        }
    });

    public static void AtLeast(Option<int> option, int min) => option.Validators.Add(r =>
    {
        if (r.GetValueOrDefault<int>() is var v && v < min)
        {
            r.AddError($"{option.Name} {v}: must be at least {min}.");
        }
    });

    public static void Between(Option<int?> option, int min, int max) => option.Validators.Add(r =>
    {
        if (r.GetValueOrDefault<int?>() is { } v && (v < min || v > max))
        {
            r.AddError($"{option.Name} {v}: must be between {min} and {max}.");
        }
    });

    public static void Between(Option<double?> option, double min, double max) => option.Validators.Add(r =>
    {
        if (r.GetValueOrDefault<double?>() is { } v && !(v >= min && v <= max))
        {
            r.AddError(FormattableString.Invariant($"{option.Name} {v}: expected a number from {min} to {max}."));
        }
    });

    public static void Positive(Option<float?> option) => option.Validators.Add(r =>
    {
        if (r.GetValueOrDefault<float?>() is { } v && !(float.IsFinite(v) && v > 0))
        {
            r.AddError($"{option.Name} {v.ToString(CultureInfo.InvariantCulture)}: must be a positive number.");
        }
    });

    public static void Positive(Option<double> option) => option.Validators.Add(r =>
    {
        if (r.GetValueOrDefault<double>() is var v && !(double.IsFinite(v) && v > 0))
        {
            r.AddError($"{option.Name} {v.ToString(CultureInfo.InvariantCulture)}: must be a positive number.");
        }
    });

    /// <summary>Every file named by these options must exist.</summary>
    public static void Files(params Option[] options)
    {
        foreach (var option in options)
        {
            option.Validators.Add(r =>
            {
                var files = r.Tokens.Select(t => t.Value).Where(v => !File.Exists(v)).ToList();
                if (files.Count > 0)
                {
                    r.AddError($"{option.Name}: no file {string.Join(", ", files)}.");
                }
            });
        }
    }
}
