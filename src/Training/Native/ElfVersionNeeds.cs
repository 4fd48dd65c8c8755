using System.Buffers.Binary;
using System.Text;

namespace StreamBert.Training.Native;

/// <summary>
/// Reads and edits the version-needed table (<c>.gnu.version_r</c>) of a little-endian ELF64 shared library:
/// the list of symbol versions (such as <c>GLIBCXX_3.4.32</c>) the dynamic loader insists on before it maps
/// the library. Marking an entry weak (<c>VER_FLG_WEAK</c>) turns "version not found" from a fatal error
/// into a silent one, which is safe only when no symbol bound to that version is actually called.
/// </summary>
/// <remarks>
/// Only the section headers, the table itself and the string table it links to are read; nothing is moved or
/// resized, so the edit is a flag bit in one 16-bit field and the rest of the file stays byte-identical.
/// </remarks>
public static class ElfVersionNeeds
{
    /// <summary><c>VER_FLG_WEAK</c> from elf.h.</summary>
    public const ushort WeakFlag = 0x2;

    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const int SectionHeaderSize = 64;
    private const int VerneedSize = 16;
    private const int VernauxSize = 16;

    /// <summary>One <c>Vernaux</c> entry: a version required from a library.</summary>
    /// <param name="Library">The needed library (<c>vn_file</c>), e.g. <c>libstdc++.so.6</c>.</param>
    /// <param name="Version">The version name, e.g. <c>GLIBCXX_3.4.32</c>.</param>
    /// <param name="Flags"><c>vna_flags</c>.</param>
    /// <param name="FlagsOffset">File offset of the 16-bit <c>vna_flags</c> field.</param>
    public sealed record Entry(string Library, string Version, ushort Flags, long FlagsOffset)
    {
        public bool IsWeak => (Flags & WeakFlag) != 0;
    }

    /// <summary>Every version-needed entry of an ELF64 little-endian image.</summary>
    /// <exception cref="InvalidDataException">The image is not ELF64 LE, or its tables point outside the file.</exception>
    public static IReadOnlyList<Entry> Read(ReadOnlySpan<byte> elf)
    {
        ReadOnlySpan<byte> magic = [0x7F, (byte)'E', (byte)'L', (byte)'F'];
        if (elf.Length < 64 || !elf[..4].SequenceEqual(magic))
        {
            throw new InvalidDataException("Not an ELF file.");
        }

        if (elf[4] != 2 || elf[5] != 1)
        {
            throw new InvalidDataException("Only 64-bit little-endian ELF files are supported.");
        }

        long shoff = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(elf[0x28..]));
        int shentsize = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3A..]);
        int shnum = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3C..]);
        if (shentsize != SectionHeaderSize || shoff <= 0 || shoff + ((long)shnum * shentsize) > elf.Length)
        {
            throw new InvalidDataException("The section header table is missing or outside the file.");
        }

        var entries = new List<Entry>();
        for (int s = 0; s < shnum; s++)
        {
            var header = elf.Slice((int)(shoff + (s * SectionHeaderSize)), SectionHeaderSize);
            if (BinaryPrimitives.ReadUInt32LittleEndian(header[4..]) != ShtGnuVerneed)
            {
                continue;
            }

            long offset = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(header[0x18..]));
            long size = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(header[0x20..]));
            int link = (int)BinaryPrimitives.ReadUInt32LittleEndian(header[0x28..]);
            int count = (int)BinaryPrimitives.ReadUInt32LittleEndian(header[0x2C..]);
            var strings = Section(elf, shoff, shnum, link);
            var table = Slice(elf, offset, size, ".gnu.version_r");
            int need = 0;
            for (int n = 0; n < count; n++)
            {
                var verneed = Slice(table, need, VerneedSize, "Verneed");
                int auxCount = BinaryPrimitives.ReadUInt16LittleEndian(verneed[2..]);
                string library = CString(strings, BinaryPrimitives.ReadUInt32LittleEndian(verneed[4..]));
                int aux = need + (int)BinaryPrimitives.ReadUInt32LittleEndian(verneed[8..]);
                for (int a = 0; a < auxCount; a++)
                {
                    var vernaux = Slice(table, aux, VernauxSize, "Vernaux");
                    ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(vernaux[4..]);
                    string version = CString(strings, BinaryPrimitives.ReadUInt32LittleEndian(vernaux[8..]));
                    entries.Add(new Entry(library, version, flags, offset + aux + 4));
                    aux += (int)BinaryPrimitives.ReadUInt32LittleEndian(vernaux[12..]);
                }

                need += (int)BinaryPrimitives.ReadUInt32LittleEndian(verneed[12..]);
            }
        }

        return entries;
    }

    /// <summary>
    /// Sets <c>VER_FLG_WEAK</c> on every entry named <paramref name="version"/>, in place. Returns the number of
    /// entries changed: 0 when they were already weak (the edit is idempotent).
    /// </summary>
    /// <exception cref="InvalidDataException">The image requires no such version, or is not ELF64 LE.</exception>
    public static int MarkWeak(Span<byte> elf, string version)
    {
        var matches = Read(elf).Where(e => e.Version == version).ToList();
        if (matches.Count == 0)
        {
            throw new InvalidDataException($"The library requires no version {version}.");
        }

        int changed = 0;
        foreach (var entry in matches.Where(e => !e.IsWeak))
        {
            BinaryPrimitives.WriteUInt16LittleEndian(elf[(int)entry.FlagsOffset..], (ushort)(entry.Flags | WeakFlag));
            changed++;
        }

        return changed;
    }

    private static ReadOnlySpan<byte> Section(ReadOnlySpan<byte> elf, long shoff, int shnum, int index)
    {
        if (index <= 0 || index >= shnum)
        {
            throw new InvalidDataException($"Section index {index} is outside the section table.");
        }

        var header = elf.Slice((int)(shoff + (index * SectionHeaderSize)), SectionHeaderSize);
        long offset = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(header[0x18..]));
        long size = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(header[0x20..]));
        return Slice(elf, offset, size, $"section {index}");
    }

    private static ReadOnlySpan<byte> Slice(ReadOnlySpan<byte> data, long offset, long size, string what)
    {
        if (offset < 0 || size < 0 || offset + size > data.Length)
        {
            throw new InvalidDataException($"{what} ({size} bytes at {offset}) lies outside its container of {data.Length} bytes.");
        }

        return data.Slice((int)offset, (int)size);
    }

    private static string CString(ReadOnlySpan<byte> strings, uint offset)
    {
        if (offset >= strings.Length)
        {
            throw new InvalidDataException($"String offset {offset} is outside the string table.");
        }

        var rest = strings[(int)offset..];
        int end = rest.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? rest : rest[..end]);
    }
}
