// Finding contacts by phone with HubSpot's CRM search API. HubSpot keeps
// `phone` and `mobilephone` as typed, and a digits-only copy of each
// without a North American country code
// (`hs_searchable_calculated_phone_number`, `…_mobile_number`). The search
// ORs its filter groups (at most five), so one request covers all four.

/** One filter group of a search body. */
export interface FilterGroup {
  filters: { propertyName: string; operator: "EQ"; value: string }[];
}

const eq = (propertyName: string, value: string): FilterGroup => ({
  filters: [{ propertyName, operator: "EQ", value }],
});

/** The ten national digits of a North American number, else `undefined`. */
export function northAmericanDigits(number: string): string | undefined {
  const digits = number.replace(/\D/g, "");
  if (digits.length === 11 && digits.startsWith("1")) return digits.slice(1);
  if (digits.length === 10 && !number.trim().startsWith("+")) return digits;
  return undefined;
}

/** The filter groups that find `number` as typed, or by its digits. */
export function phoneFilterGroups(number: string): FilterGroup[] {
  const groups = [eq("phone", number), eq("mobilephone", number)];
  const national = northAmericanDigits(number);
  if (national !== undefined) {
    groups.push(
      eq("hs_searchable_calculated_phone_number", national),
      eq("hs_searchable_calculated_mobile_number", national),
    );
  }
  return groups;
}
