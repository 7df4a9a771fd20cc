/** The text with each UTF-16 code unit above 0x7f written as \uXXXX. */
export function asciiOnly(text: string): string;
